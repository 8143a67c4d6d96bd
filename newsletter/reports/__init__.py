"""Reports: decoding, parsing and ingesting situation report files."""
