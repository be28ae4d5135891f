import { QueryClient, QueryClientProvider, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { Redirect, Route, Switch, useLocation } from 'wouter';
import { api, onSignedOut, type User } from './api/client';
import { AuthPage } from './pages/Auth';
import { ChatsPage } from './pages/Chats';
import { Landing } from './pages/Landing';

const queries = new QueryClient({ defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false } } });

export function App() {
  return (
    <QueryClientProvider client={queries}>
      <Routes />
    </QueryClientProvider>
  );
}

/** The signed-in account, or null. */
export function useMe() {
  return useQuery({
    queryKey: ['me'],
    queryFn: async (): Promise<User | null> => {
      const { data, response } = await api.GET('/api/v1/users/me');
      if (response.status === 401) return null;
      if (!data) throw new Error(`users/me: ${response.status}`);
      return data;
    },
  });
}

function Routes() {
  const [location, navigate] = useLocation();
  const client = useQueryClient();
  const me = useMe();
  useEffect(() => {
    onSignedOut(() => {
      client.setQueryData(['me'], null);
      navigate(`/login?next=${encodeURIComponent(location)}`);
    });
  }, [client, location, navigate]);
  if (me.isPending) return <p className="loading" role="status">Loading…</p>;
  const signedIn = Boolean(me.data);
  const next = `?next=${encodeURIComponent(location)}`;
  return (
    <Switch>
      <Route path="/">{signedIn ? <Redirect to="/chats" /> : <Landing />}</Route>
      <Route path="/login">{signedIn ? <Redirect to="/chats" /> : <AuthPage mode="login" />}</Route>
      <Route path="/signup">{signedIn ? <Redirect to="/chats" /> : <AuthPage mode="signup" />}</Route>
      <Route path="/chats/:id?">{(params) => (signedIn ? <ChatsPage me={me.data!} chatId={params.id} /> : <Redirect to={`/login${next}`} />)}</Route>
      <Route>
        <main className="centered">
          <h1>Page not found</h1>
          <a href="/">Go home</a>
        </main>
      </Route>
    </Switch>
  );
}
