"""syncdesk's console: the Textual app (`console.app.SyncdeskApp`) and the CLI."""
