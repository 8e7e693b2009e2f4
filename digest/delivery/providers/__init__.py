"""The providers a delivery can go through: outbox, SMTP, SendGrid, and the in-memory double."""
