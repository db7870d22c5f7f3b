"""Profiles (一企一档, 一人一档, 一项目一档, 一楼一档): a record with everything linked to it, as JSON
and as a printable page."""
