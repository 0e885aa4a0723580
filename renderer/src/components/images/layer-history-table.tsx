import { Badge, Table, Text } from '@mantine/core';
import type { DescriptorView, LayerHistoryEntry } from '../../api/contract.js';
import { formatBytes, shortDigest } from '../../format.js';
import { columnPriority, ResponsiveTable } from '../responsive-table.js';

interface Row {
  key: string;
  step: number;
  command?: string;
  comment?: string;
  layer?: DescriptorView;
  empty: boolean;
}

/** History steps with their layers; layers the history does not cover (a config without history) get rows too. */
function rowsOf(history: LayerHistoryEntry[], layers: DescriptorView[]): Row[] {
  const rows: Row[] = history.map((entry, index) => ({
    key: `h${index}`,
    step: index + 1,
    command: entry.createdBy,
    comment: entry.comment,
    layer: entry.layer === undefined ? undefined : layers[entry.layer],
    empty: entry.emptyLayer,
  }));
  const covered = new Set(history.flatMap((entry) => (entry.layer === undefined ? [] : [entry.layer])));
  layers.forEach((layer, index) => {
    if (!covered.has(index)) rows.push({ key: `l${index}`, step: rows.length + 1, layer, empty: false });
  });
  return rows;
}

/**
 * The image as it was built: each step's command (the config's `history[].created_by`) beside the layer it made and
 * that layer's size. Steps that made no layer (ENV, CMD, ...) are marked, so the big layers stand out.
 */
export function LayerHistoryTable({ history, layers }: { history: LayerHistoryEntry[]; layers: DescriptorView[] }) {
  const rows = rowsOf(history, layers);
  return (
    <ResponsiveTable label="Layers">
      <Table fz="xs" verticalSpacing={4} aria-label="Layers">
        <Table.Thead>
          <Table.Tr>
            <Table.Th w={32}>#</Table.Th>
            <Table.Th>Command</Table.Th>
            <Table.Th ta="right">Size</Table.Th>
            <Table.Th className={columnPriority.medium}>Digest</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((row) => (
            <Table.Tr key={row.key} data-empty-layer={row.empty ? 'true' : undefined}>
              <Table.Td className="berth-nums">{row.step}</Table.Td>
              <Table.Td>
                {row.command ? (
                  <Text component="span" size="xs" className="berth-mono berth-break" c={row.empty ? 'dimmed' : undefined}>
                    {row.command}
                  </Text>
                ) : (
                  <Text component="span" size="xs" c="dimmed">
                    No build history recorded
                  </Text>
                )}
                {row.empty && (
                  <Badge ml={6} size="xs" variant="light" color="gray" tt="none">
                    no layer
                  </Badge>
                )}
              </Table.Td>
              <Table.Td ta="right" className="berth-nums">
                {row.layer ? formatBytes(row.layer.size) : '—'}
              </Table.Td>
              <Table.Td className={`berth-mono ${columnPriority.medium}`} title={row.layer?.digest}>
                {row.layer ? shortDigest(row.layer.digest, 12) : ''}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </ResponsiveTable>
  );
}
