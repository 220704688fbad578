import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseS3Url } from '../../src/storage/s3/s3-url.ts';

test('parseS3Url reads bucket, prefix, endpoint and region', () => {
  assert.deepEqual(parseS3Url('s3://maps/prod/eu/?endpoint=http://127.0.0.1:18080&region=eu-west-1'), {
    bucket: 'maps',
    prefix: 'prod/eu/',
    endpoint: 'http://127.0.0.1:18080',
    region: 'eu-west-1',
  });
  assert.deepEqual(parseS3Url('s3://my.maps'), { bucket: 'my.maps', prefix: '', endpoint: undefined, region: 'us-east-1' });
  assert.equal(parseS3Url('s3://maps/a//b').prefix, 'a/b/');
});

test('parseS3Url says what is wrong', () => {
  for (const [url, message] of [
    ['maps', /not a URL/],
    ['https://maps', /scheme must be s3/],
    ['s3://user:pw@maps', /credentials do not belong/],
    ['s3://maps:9000', /server's address goes in \?endpoint=/],
    ['s3://ab', /not a valid bucket name/],
    ['s3://maps/../x', /must not contain/],
    ['s3://maps?endpoint=not a url', /not a URL/],
    ['s3://maps?bucket=x', /unknown parameter "bucket"/],
  ] as const) {
    assert.throws(() => parseS3Url(url), message, url);
  }
});
