# Example values; nothing here is secret.
region     = "eu-west-1"
account_id = "123456789012"
