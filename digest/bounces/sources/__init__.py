"""Where returned mail is read from: an IMAP mailbox, or files (eml, mbox, maildir, stdin)."""
