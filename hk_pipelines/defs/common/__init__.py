"""Resources and partitions shared by the domains."""
