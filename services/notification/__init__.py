"""The notification service: decides who is told what about the platform's events, and
delivers it in-app (the hub's ``user:{id}:inbox``), by email (SMTP) and by push (FCM/APNs)."""
