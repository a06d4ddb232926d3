"""The OCPP protocol adapter: WebSocket gateway, OCPP-J framing, version-specific handlers.

Named `ampnexus.ocpp`; inside it, `import ocpp` still means the `ocpp` package
(absolute imports), whose message schemas and enums we build on.
"""
