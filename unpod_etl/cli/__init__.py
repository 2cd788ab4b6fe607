"""The `unpod-etl` command: click commands, option handling, rendering, progress, the demo.

Parses, calls, prints: no SQL and no HTTP of its own. May import every layer below it; only
`cli.demo` and the `fake-api` command (`cli.main`) may import `unpod_etl.fakeapi`.
"""
