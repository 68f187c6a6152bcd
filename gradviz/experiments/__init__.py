"""The experiments behind the page, one module per section: a frozen config in, a result out."""
