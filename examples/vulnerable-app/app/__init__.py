# INTENTIONALLY INSECURE example code for secai's scanner fixtures. Never deploy.
