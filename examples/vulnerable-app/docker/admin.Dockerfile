# INTENTIONALLY INSECURE image for secai's scanner fixtures. Never build for real use.
FROM python:3.12-slim

RUN apt-get update && apt-get install -y --no-install-recommends gcc
WORKDIR /opt/admin
COPY . /opt/admin
RUN pip install -r requirements.txt && useradd --no-create-home --uid 10002 admin
USER admin
EXPOSE 5001
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5001/admin/version', timeout=3)"]
CMD ["python", "-m", "app.admin"]
