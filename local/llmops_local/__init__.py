"""Local mode: the platform's template, handlers and state machines running on one machine, offline.

AWS APIs are emulated by moto in server mode; Lambda invocations are dispatched in-process to the handlers in
functions/; OpenSearch Serverless is stood in for by LanceDB and the LLM by SmolLM2 on the CPU.
"""
