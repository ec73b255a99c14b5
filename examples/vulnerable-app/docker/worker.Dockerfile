# INTENTIONALLY INSECURE image for secai's scanner fixtures. Never build for real use.
FROM python:3.12-slim

RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev
COPY requirements.txt /srv/requirements.txt
RUN pip install -r /srv/requirements.txt
COPY app /srv/app
EXPOSE 8080
WORKDIR /srv
RUN useradd --system --uid 10001 worker
USER worker
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import app.jobs"]
CMD ["python", "-m", "app.jobs"]
