"""The sans-I/O protocol core: ticket, payment, selection and pricing rules as plain Python."""
