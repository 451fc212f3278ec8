"""The LLMOps platform: domain services, the ports they depend on, and adapters for AWS and local mode."""
