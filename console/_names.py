"""Names the command line needs before anything heavy is imported: `syncdesk --help` must
not load the engine, pydantic, httpx or Textual."""

PLATFORM_NAMES = ("quickbooks", "xero", "wave", "freshbooks")
"""Every platform syncdesk knows, in the order of the console's 1–4 keys."""
