import type { Request } from 'express';
import type { AuditEventInput } from '../auth/audit-log.js';
import { AdminError, badRequest } from './admin-error.js';
import type { AdminContext } from './deps.js';

/**
 * Small helpers every route module shares: who is asking, auditing an admin change, and reading a JSON body or a
 * query string with exact types (the body is untrusted input; each helper names the field it refuses).
 */
export function clientOf(req: Request): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/** Records an admin change (actor `admin`). A failed audit write fails the request: changes must leave a trace. */
export async function auditChange(ctx: AdminContext, req: Request, event: Omit<AuditEventInput, 'actor' | 'client' | 'outcome'>): Promise<void> {
  await ctx.audit.record({ actor: 'admin', client: clientOf(req), outcome: 'success', ...event });
}

export type JsonObject = Record<string, unknown>;

/** The parsed JSON body, which must be an object. */
export function bodyOf(req: Request): JsonObject {
  const body: unknown = req.body;
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AdminError('BERTH_BAD_REQUEST', 400, 'the request body must be a JSON object', 'send Content-Type: application/json');
  }
  return body as JsonObject;
}

export function requiredString(body: JsonObject, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value.trim() === '') throw badRequest(`"${field}" is required and must be a non-empty string`);
  return value;
}

export function optionalString(body: JsonObject, field: string): string | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`"${field}" must be a string`);
  return value;
}

/** `undefined` (absent), `null` (clear it) or a string. */
export function nullableString(body: JsonObject, field: string): string | null | undefined {
  if (body[field] === null) return null;
  return optionalString(body, field);
}

export function optionalBoolean(body: JsonObject, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw badRequest(`"${field}" must be true or false`);
  return value;
}

export function optionalStringArray(body: JsonObject, field: string): string[] | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw badRequest(`"${field}" must be an array of strings`);
  return value as string[];
}

export function optionalInteger(body: JsonObject, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw badRequest(`"${field}" must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}`);
  }
  return value;
}

/** One query parameter as a string (the last one when repeated), or undefined when absent or empty. */
export function queryParam(req: Request, name: string): string | undefined {
  const value: unknown = (req.query as Record<string, unknown>)[name];
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return typeof last === 'string' && last !== '' ? last : undefined;
}

export function queryInteger(req: Request, name: string, fallback: number, min: number, max: number): number {
  const text = queryParam(req, name);
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw badRequest(`"${name}" must be a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

/** A route parameter (express decodes it). */
export function paramOf(req: Request, name: string): string {
  const value: unknown = (req.params as Record<string, unknown>)[name];
  if (typeof value !== 'string' || value === '') throw badRequest(`missing ${name} in the path`);
  return value;
}
