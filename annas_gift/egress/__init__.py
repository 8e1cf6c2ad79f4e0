"""Egress: the VPN/proxy endpoints calls may leave through (policies, health, persistence, admin).

`upstream/` never sees this package: the chat service asks the manager for an endpoint and
hands the upstream call only the proxy URL to use.
"""
