"""Report writers: they read the results model and never measure."""
