"""Care: birthday, festival and repayment-reminder messages, and one-off campaigns."""
