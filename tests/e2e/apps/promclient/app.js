// The test service of seed 002 (Express + prom-client), with the port taken from PORT so the
// end-to-end tests can run it on a free loopback port.
const express = require('express');
const http = require('http');
const promClient = require('prom-client');

const collectDefaultMetrics = promClient.collectDefaultMetrics;
collectDefaultMetrics({ register: promClient.register });

const apiHits = new promClient.Counter({
  name: 'api_hits',
  help: 'Number of hits to the API',
});
const httpRequests = new promClient.Counter({
  name: 'http_requests',
  help: 'Number of HTTP requests',
  labelNames: ['route', 'method', 'status'],
});

const app = express();
const server = http.createServer(app);
const port = Number(process.env.PORT || 3000);
server.listen(port, '127.0.0.1', () => {
  console.log(`Server is running on port ${port}`);
});

app.get('/fast', (_, res) => {
  apiHits.inc();
  httpRequests.inc({ route: '/fast', method: 'GET', status: 200 });
  res.send('This is a fast request!');
});

app.get('/metrics', async (_, res) => {
  const metrics = await promClient.register.metrics();
  res.setHeader('Content-Type', promClient.register.contentType);
  res.send(metrics);
});
