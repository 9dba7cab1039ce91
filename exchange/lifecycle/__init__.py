"""The sharing lifecycle of the 《政务数据共享条例》 (国务院令第809号), with its clocks: catalogue
entries reviewed by the data authority before publication (art. 13-17), update duties when laws
or duties change, and supply-demand requests (供需对接, art. 20). docs/lifecycle.md."""
