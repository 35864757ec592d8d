"""The `cloudml` subcommands (init, train, jobs, endpoints/deploy, config, doctor), each imported only when invoked."""
