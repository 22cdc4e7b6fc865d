"""What a method is, how it is found, and how it is checked: the contract (`protocol`), the registry (`methods`, `registry`), evaluation-time settings (`overrides`), the mock run (`check`)."""
