"""OCPP 1.6J: schemas, inbound handlers and outbound commands."""
