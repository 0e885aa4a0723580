import { radosgwSkipReason } from '../support/services/radosgw.js';
import { describeDriverContract } from './driver-contract.js';
import { startS3Backend } from './s3-backend.js';

/** The S3 backend, on a real radosgw with the driver's default settings, against the shared StorageDriver contract. */
describeDriverContract('S3 driver (radosgw)', () => startS3Backend(), { skip: radosgwSkipReason() });
