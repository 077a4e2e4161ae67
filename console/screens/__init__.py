"""Screens of the syncdesk console."""
