import { Button } from '@mantine/core';
import { EmptyState } from '../components/empty-state.js';
import { IconAlert } from '../components/icons.js';
import { PageHeader } from '../components/page-header.js';
import { hrefFor, Link } from '../router.js';

export function NotFoundPage() {
  return (
    <>
      <PageHeader title="Page not found" />
      <EmptyState icon={<IconAlert size={28} />} title="There is no page at this address">
        <Button component={Link} href={hrefFor('overview')}>
          Go to the overview
        </Button>
      </EmptyState>
    </>
  );
}
