"""``python -m assistant``: privacy lockdown first, then the command line."""

from assistant.security.privacy import lockdown

lockdown()

from assistant.cli import main  # noqa: E402

raise SystemExit(main())
