"""Adapters for AWS services. Only this package (and the handlers) import boto3."""
