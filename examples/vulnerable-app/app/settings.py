# INTENTIONALLY INSECURE: hard-coded fake credentials for scanner fixtures. Never deploy.
# None of these values is real; they only look like credentials to secret scanners.

DATABASE_PASSWORD = "hunter2-FAKE-example-password"
AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRET_KEY = "django-insecure-FAKE0example0key0do0not0use"
GITHUB_TOKEN = "ghp_FAKEexampleTOKEN0000000000000000000000"
DEBUG = True
