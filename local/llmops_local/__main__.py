from llmops_local.cli import app

app(prog_name="llmops")
