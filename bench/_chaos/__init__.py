"""The chaos harness's parts: real processes on loopback, a per-record audit, the scenarios.

`_world` starts sandboxes and engines as separate processes and reads the store; `_audit`
counts, per local record, the platform objects carrying syncdesk's mark; `_storm` is the long
run with SIGKILLs mid-work; `_scenarios` are the named, deterministic fault scenarios.
"""
