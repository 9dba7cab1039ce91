"""Scorecards (共享评价; 《政务数据共享条例》 art. 38, GB/T 38664.4): monthly figures per provider
and consumer department and city-wide, computed from the audit log and the hub's own tables,
never from personal data; and the public statistics (docs/scorecards.md)."""
