"""Word lists of the demo city: surnames, given-name characters, streets, divisions, employers.

Everything here is plain data (fictional but plausible); :mod:`exchange.demo.citizens` draws
from it. Every character is in GBK, since three of the four departments store text in GBK.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# Common surnames with rough relative frequencies (per mille of the population), plus a few
# compound surnames.
SURNAMES: Final[tuple[tuple[str, float], ...]] = (
    ("王", 71.5),
    ("李", 72.0),
    ("张", 68.5),
    ("刘", 53.8),
    ("陈", 46.1),
    ("杨", 31.0),
    ("黄", 22.4),
    ("赵", 20.2),
    ("吴", 20.0),
    ("周", 19.2),
    ("徐", 16.6),
    ("孙", 15.4),
    ("马", 14.3),
    ("朱", 13.6),
    ("胡", 13.1),
    ("郭", 11.8),
    ("何", 11.7),
    ("林", 11.5),
    ("高", 11.4),
    ("罗", 10.8),
    ("郑", 10.3),
    ("梁", 8.9),
    ("谢", 8.1),
    ("宋", 7.5),
    ("唐", 7.4),
    ("许", 7.0),
    ("韩", 6.8),
    ("冯", 6.6),
    ("邓", 6.5),
    ("曹", 6.4),
    ("彭", 6.2),
    ("曾", 6.0),
    ("肖", 5.9),
    ("田", 5.6),
    ("董", 5.3),
    ("袁", 5.2),
    ("潘", 5.1),
    ("于", 5.0),
    ("蒋", 4.9),
    ("蔡", 4.8),
    ("余", 4.6),
    ("杜", 4.5),
    ("叶", 4.5),
    ("程", 4.4),
    ("苏", 4.3),
    ("魏", 4.2),
    ("吕", 4.1),
    ("丁", 4.0),
    ("任", 4.0),
    ("沈", 3.9),
    ("姚", 3.8),
    ("卢", 3.7),
    ("姜", 3.6),
    ("崔", 3.5),
    ("钟", 3.4),
    ("谭", 3.3),
    ("陆", 3.2),
    ("汪", 3.1),
    ("范", 3.0),
    ("金", 3.0),
    ("石", 2.9),
    ("廖", 2.8),
    ("贾", 2.7),
    ("夏", 2.6),
    ("韦", 2.5),
    ("方", 2.5),
    ("邹", 2.3),
    ("孟", 2.2),
    ("熊", 2.1),
    ("秦", 2.0),
    ("邱", 2.0),
    ("江", 1.9),
    ("薛", 1.8),
    ("严", 1.7),
    ("钱", 1.6),
    ("毛", 1.6),
    ("顾", 1.5),
    ("戴", 1.4),
    ("邵", 1.4),
    ("俞", 1.3),
    ("楼", 0.6),
    ("欧阳", 0.3),
    ("司马", 0.05),
    ("诸葛", 0.05),
    ("上官", 0.05),
)

# Given-name characters by sex and era (born before 1975 / from 1975).
MALE_OLD: Final = "建国华明强军伟平勇志文德福荣林海祥根生金宝忠兴昌春永庆长发富贵成松良水"
MALE_NEW: Final = "浩宇轩子涵博俊杰睿泽晨航鹏昊然梓铭嘉豪思远天佑逸凡辰毅诚凯宸哲锦一"
FEMALE_OLD: Final = "秀英兰芳桂珍玉凤华红梅丽娟霞萍敏琴素淑美玲燕静云彩月琼菊莲翠"
FEMALE_NEW: Final = "子涵欣怡梓萱诗雨嘉琪思颖可馨若佳悦婷雅晴妍一诺语彤瑶琳雪心安"

# Streets and roads per district (real-sounding, used fictitiously).
STREETS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "330102": ("解放路", "望江路", "庆春路", "清泰街", "秋涛路", "钱江路", "凯旋路", "景芳路"),
        "330105": ("莫干山路", "湖墅南路", "大关路", "上塘路", "潮王路", "石祥路", "东新路"),
        "330106": ("文三路", "文二路", "教工路", "古墩路", "天目山路", "学院路", "西溪路"),
        "330108": ("江南大道", "滨盛路", "长河路", "江虹路", "网商路", "泰安路", "浦沿路"),
        "330109": ("金城路", "人民路", "市心路", "通惠路", "建设一路", "工人路", "育才路"),
        "330110": ("文一西路", "五常大道", "良睦路", "临平大道", "南大街", "邱山大街", "龙舟路"),
    }
)

# Towns and villages (镇/村) where some households live in houses without building numbers.
VILLAGES: Final[Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]]] = MappingProxyType(
    {
        "330109": (
            ("瓜沥镇", ("航民村", "党山村", "群益村")),
            ("义桥镇", ("新坝村", "许家村", "峡山头村")),
        ),
        "330110": (
            ("径山镇", ("径山村", "双溪村", "潘板村")),
            ("瓶窑镇", ("南山村", "彭公村", "长命村")),
        ),
    }
)

# ID numbers keep the division code of first registration. Some districts of the demo city were
# merged or renamed: people registered before the change carry the old code.
LEGACY_DIVISIONS: Final[Mapping[str, tuple[str, int, float]]] = MappingProxyType(
    {
        # district: (old code, year of the change, share of earlier births with the old code)
        "330102": ("330104", 2021, 0.5),  # former 江干区, merged in 2021
        "330105": ("330103", 2021, 0.5),  # former 下城区, merged in 2021
        "330109": ("330181", 2001, 0.9),  # 萧山市 became 萧山区 in 2001
        "330110": ("330184", 2001, 0.9),  # 余杭市 became 余杭区 in 2001
    }
)

# Divisions of first registration of people who moved to the demo city, with relative weights.
ELSEWHERE: Final[tuple[tuple[str, float], ...]] = (
    ("330302", 6.0),  # 温州市鹿城区
    ("330402", 5.0),  # 嘉兴市南湖区
    ("330602", 6.0),  # 绍兴市越城区
    ("330782", 5.0),  # 义乌市
    ("331002", 4.0),  # 台州市椒江区
    ("330502", 4.0),  # 湖州市吴兴区
    ("330802", 3.0),  # 衢州市柯城区
    ("331102", 3.0),  # 丽水市莲都区
    ("340104", 4.0),  # 合肥市蜀山区
    ("341202", 4.0),  # 阜阳市颍州区
    ("360102", 3.0),  # 南昌市东湖区
    ("362502", 3.0),  # 抚州市临川区
    ("410105", 3.0),  # 郑州市金水区
    ("411302", 3.0),  # 南阳市宛城区
    ("420106", 3.0),  # 武汉市武昌区
    ("430104", 3.0),  # 长沙市岳麓区
    ("510107", 2.0),  # 成都市武侯区
    ("522601", 2.0),  # 凯里市
    ("320106", 2.0),  # 南京市鼓楼区
    ("370102", 2.0),  # 济南市历下区
    ("110105", 1.0),  # 北京市朝阳区
    ("310115", 1.5),  # 上海市浦东新区
    ("440106", 1.0),  # 广州市天河区
    ("500103", 1.0),  # 重庆市渝中区
    ("130102", 1.0),  # 石家庄市长安区
    ("610113", 1.0),  # 西安市雁塔区
    ("230103", 0.5),  # 哈尔滨市南岗区
    ("450103", 1.0),  # 南宁市青秀区
    ("350102", 1.5),  # 福州市鼓楼区
    ("620102", 0.5),  # 兰州市城关区
)

# GB/T 3304 codes of ethnic minorities, with rough weights for the demo city's population.
MINORITIES: Final[tuple[tuple[str, float], ...]] = (
    ("22", 20.0),  # 畲族
    ("15", 12.0),  # 土家族
    ("06", 12.0),  # 苗族
    ("03", 10.0),  # 回族
    ("08", 8.0),  # 壮族
    ("09", 6.0),  # 布依族
    ("12", 5.0),  # 侗族
    ("11", 5.0),  # 满族
    ("07", 4.0),  # 彝族
    ("02", 3.0),  # 蒙古族
    ("10", 2.0),  # 朝鲜族
    ("13", 2.0),  # 瑶族
    ("14", 2.0),  # 白族
    ("05", 1.0),  # 维吾尔族
    ("04", 1.0),  # 藏族
)

# Employer names: CITY_NAME + trade name + line of business.
TRADE_NAMES: Final = (
    "恒达",
    "华信",
    "博远",
    "锦程",
    "天成",
    "瑞丰",
    "中联",
    "新元",
    "宏泰",
    "永兴",
    "金桥",
    "东方",
    "立信",
    "星河",
    "云帆",
    "钱塘",
    "之江",
    "西溪",
    "湖滨",
    "运河",
    "良渚",
    "九堡",
    "三墩",
    "望江",
    "宝石",
    "北山",
    "南屏",
    "玉泉",
    "凤起",
    "武林",
    "清波",
    "孤山",
    "龙井",
    "虎跑",
    "吴山",
    "半山",
    "皋亭",
    "临平",
    "闻堰",
    "湘湖",
)
BUSINESSES: Final = (
    "电子科技有限公司",
    "网络科技有限公司",
    "建设工程有限公司",
    "餐饮管理有限公司",
    "物业服务有限公司",
    "贸易有限公司",
    "纺织有限公司",
    "机械制造有限公司",
    "医药有限公司",
    "物流有限公司",
    "文化传媒有限公司",
    "教育咨询有限公司",
    "汽车销售服务有限公司",
    "食品有限公司",
    "服饰有限公司",
    "软件有限公司",
    "建筑设计有限公司",
    "印刷有限公司",
    "环保科技有限公司",
    "新材料股份有限公司",
)
PUBLIC_EMPLOYERS: Final = (
    "第一人民医院",
    "中医院",
    "第二中学",
    "实验小学",
    "图书馆",
    "疾病预防控制中心",
    "自来水有限公司",
    "公交集团有限公司",
)
