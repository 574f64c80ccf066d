"""The usage reports: window, figures, text, chart and the reporter."""
