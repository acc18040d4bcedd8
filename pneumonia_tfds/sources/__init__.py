"""One reader per source layout; each yields SourceRecords, never pixels."""
