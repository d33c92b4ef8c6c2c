"""Access control (C5.4-1, C5.5-4): the reviewed policy (``policy``) and who is acting and
whether they may (``guard``)."""
