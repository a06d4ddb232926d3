"""Reserved for a later issue; see ARCHITECTURE in the README."""
