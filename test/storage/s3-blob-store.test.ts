import { randomBytes } from 'node:crypto';
import { describe } from 'node:test';
import { S3BlobStore } from '../../src/storage/s3/s3-blob-store.ts';
import { parseS3Url } from '../../src/storage/s3/s3-url.ts';
import { service } from '../helpers/services.ts';
import { blobStoreContract } from './blob-store.contract.ts';

const s3 = service('MAPVAULT_TEST_S3_URL', 'scripts/services/swift.sh');

describe('S3BlobStore against a real S3 server (Swift)', { skip: s3.skip }, () => {
  // Each test gets an empty store: its own prefix in the shared test bucket.
  blobStoreContract('S3BlobStore', () =>
    S3BlobStore.open({ ...parseS3Url(s3.value), prefix: `contract-${randomBytes(6).toString('hex')}/` }),
  );
});
