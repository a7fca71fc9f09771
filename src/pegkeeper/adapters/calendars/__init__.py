"""Market calendars that are not a broker's own: the offline exchange calendar."""
