# INTENTIONALLY INSECURE image for secai's scanner fixtures. Never build for real use.
FROM python:3.12-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends wkhtmltopdf fonts-dejavu-core
COPY requirements.txt /reports/
RUN pip install -r /reports/requirements.txt
COPY app /reports/app
WORKDIR /reports
RUN useradd --uid 10003 reports
USER reports
EXPOSE 5002
HEALTHCHECK --start-period=20s CMD ["python", "-c", "import app.reports"]
CMD ["python", "-m", "app.reports"]
