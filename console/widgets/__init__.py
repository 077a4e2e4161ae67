"""Widgets of the syncdesk console."""
