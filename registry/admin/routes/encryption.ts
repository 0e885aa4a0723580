import { Router } from 'express';
import { enableEncryption, encryptionStatus, requireKeyRingIfEncrypted, rotateMasterKey } from '../../storage/encryption/encryption-operations.js';
import type { EncryptingDriver } from '../../storage/encryption/encrypting-driver.js';
import { AdminError } from '../admin-error.js';
import { adminRoutes, type EncryptionRotateResponse, type EncryptionStatusResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { auditChange } from '../request-helpers.js';

/**
 * Encryption at rest from the GUI (Settings), the same operations as `berth encryption status|enable|rotate`.
 * Enabling answers at once (new content is encrypted from then on) and encrypts what is stored in the background,
 * one blob at a time, while pulls and pushes go on; a second enable while that runs is refused with 409.
 */
export function encryptionRoutes(ctx: AdminContext, driver: EncryptingDriver): Router {
  const router = Router();
  let pass: { running: boolean; encrypted: number; error?: string } | undefined;

  const status = async (): Promise<EncryptionStatusResponse> => {
    const current = await encryptionStatus(driver);
    return { ...current, keyRing: { ...current.keyRing, retiredKeys: [...current.keyRing.retiredKeys] }, blobs: { ...current.blobs }, ...(pass ? { pass: { ...pass } } : {}) };
  };

  router.get(adminRoutes.encryption, async (_req, res) => {
    res.json(await status());
  });

  router.post(adminRoutes.encryptionEnable, async (req, res) => {
    if (pass?.running) throw new AdminError('BERTH_ENCRYPTION_RUNNING', 409, 'existing blobs are being encrypted right now', 'wait until the pass ended (GET /api/encryption shows it)');
    await requireKeyRingIfEncrypted(driver);
    const { active, created } = await driver.masterKeys.ensure();
    const current: { running: boolean; encrypted: number; error?: string } = { running: true, encrypted: 0 };
    pass = current;
    void enableEncryption(driver, (done) => (current.encrypted = done)).then(
      async (result) => {
        current.running = false;
        current.encrypted = result.encrypted;
        await auditChange(ctx, req, { action: 'storage.encryption.enable', detail: { encrypted: result.encrypted, bytes: result.bytes, activeKey: result.activeKey } }).catch(() => undefined);
      },
      (error: unknown) => {
        current.running = false;
        current.error = error instanceof Error ? error.message : String(error);
        ctx.log.error({ err: error }, 'encrypting the stored blobs failed');
      },
    );
    // The marker is written by the pass's first step: wait for it, so the answer says "enabled".
    for (let tries = 0; tries < 100 && !(await driver.encryptsWrites(true)) && current.running; tries += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    if (created) ctx.log.warn({ keyRing: driver.masterKeys.store.source, activeKey: active.id }, 'made a new encryption master key ring: back it up apart from the data');
    res.status(202).json(await status());
  });

  router.post(adminRoutes.encryptionRotate, async (req, res) => {
    const result = await rotateMasterKey(driver);
    await auditChange(ctx, req, { action: 'storage.encryption.rotate', detail: { activeKey: result.activeKey, previousKey: result.previousKey, rewrapped: result.rewrapped } });
    const body: EncryptionRotateResponse = { ...result, dropped: [...result.dropped], kept: [...result.kept] };
    res.json(body);
  });
  return router;
}
