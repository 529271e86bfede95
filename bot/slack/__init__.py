"""The Slack adapter: ``run_slack`` (app.py) and one module of listeners per feature."""
