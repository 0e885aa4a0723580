import { Badge, Group, Text } from '@mantine/core';

/** `linux/amd64`, `linux/arm64/v8` as small badges; an image with no platform info says so. */
export function PlatformBadges({ platforms, max = 4 }: { platforms: string[]; max?: number }) {
  if (platforms.length === 0) {
    return (
      <Text size="xs" c="dimmed">
        —
      </Text>
    );
  }
  const shown = platforms.slice(0, max);
  const hidden = platforms.slice(max);
  return (
    <Group gap={4}>
      {shown.map((platform) => (
        <Badge key={platform} size="sm" variant="outline" color="gray" tt="none" fw={500}>
          {platform}
        </Badge>
      ))}
      {hidden.length > 0 && (
        <Badge size="sm" variant="light" color="gray" tt="none" title={hidden.join(', ')}>
          +{hidden.length}
        </Badge>
      )}
    </Group>
  );
}
