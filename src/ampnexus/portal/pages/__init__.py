"""One module per part of the portal, each with its router and the views it assembles from
the services."""
